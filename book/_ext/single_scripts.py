"""Sphinx 7.4 writes an inline script added after the builder started twice (sphinx-doc/sphinx#13402,
fixed in Sphinx 8): sphinx-thebe's `const THEBE_JS_URL` then throws a SyntaxError on every page."""


def _once(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"][:] = kept


def setup(app):
    app.connect("html-page-context", _once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
