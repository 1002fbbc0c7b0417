import pytest

from rlshift.errors import InputError
from rlshift.studies import calibration as cal


def test_defaults_validate():
    params = cal.PARAMS.validate({})
    assert params["model_pair"] == "embedded" and params["n_items"] > 0


@pytest.mark.parametrize("values,message", [
    ({"n_item": 5}, r"unknown parameter 'n_item'\. Did you mean 'n_items'\?"),
    ({"n_items": "100"}, r"'n_items' must be int, got '100'"),
    ({"n_items": 0}, r"'n_items'=0 is out of range: accepted 1"),
    ({"n_items": True}, r"'n_items' must be int"),
    ({"model_pair": "llama-2-7B"}, r"'llama-2-7B' is not accepted\. Did you mean 'llama-2-7b'\?"),
    ({"quantize": "nf4"}, r"'quantize': 'nf4' is not accepted.*Accepted: auto, 4bit"),
    ({"tasks": []}, r"'tasks' is empty"),
    ({"tasks": ["arc_easy:letters:0"]}, r"style 'letters' is not accepted"),
    ({"tasks": ["mmlu"]}, r"must read 'dataset:style:k_shot'"),
    ({"tasks": ["mmlux:letter:0"]}, r"unknown dataset.*Did you mean 'mmlu'"),
    ({"base_model": "no such model!"}, r"unknown model spec 'no such model!'"),
    ({"base_model": "embedded:gemma-3-27b"}, r"unknown embedded model 'gemma-3-27b'.*gemma-3-270m"),
    ({"temperatures": [1.0, 0]}, r"'temperatures'=.* is out of range"),
])
def test_bad_parameters_are_named_with_what_is_accepted(values, message):
    with pytest.raises(InputError, match=message):
        cal.PARAMS.validate(values)


def test_n_larger_than_the_data_fails_before_any_model_loads():
    with pytest.raises(InputError, match=r"n=500 for 'copa' is out of range"):
        cal.prepare(["arc_easy:letter:0", "copa:cloze:0"], 500, 0)
