from rlshift.studies import calibration as cal


def test_defaults_validate_and_values_are_coerced_only_where_safe():
    params = cal.PARAMS.validate({})
    assert params["model_pair"] == "embedded" and params["n_items"] > 0
    assert cal.PARAMS.validate({"temperatures": [1, 2.5]})["temperatures"] == [1, 2.5]
    assert cal.PARAMS.validate({"base_model": None})["base_model"] is None
    partial = cal.PARAMS.validate({"n_items": 5}, partial=True)
    assert partial == {"n_items": 5}  # the runner checks only what it passes
