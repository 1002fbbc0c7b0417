"""Models: the catalogue (embedded models, adapted stages, named pairs), conversion into cached
folders, and loading (causal LMs and reward models)."""
from rlshift.models.catalog import (ADAPTED, EMBEDDED, ENCODERS, PAIRS, AdaptedModel, EmbeddedEncoder,
                                    EmbeddedModel, ModelPair, check_spec, describe_spec, pair)
from rlshift.models.convert import embedded_path, encoder_path, merge_adapter, merge_to_folder
from rlshift.models.load import (QUANTIZATIONS, LoadedModel, hub_source, load, load_reward_model,
                                 load_tokenizer, quantization_kwargs, resolve_quantization)

__all__ = ["ADAPTED", "EMBEDDED", "ENCODERS", "PAIRS", "QUANTIZATIONS", "AdaptedModel", "EmbeddedEncoder",
           "EmbeddedModel", "LoadedModel", "ModelPair", "check_spec", "describe_spec", "embedded_path",
           "encoder_path", "hub_source", "load", "load_reward_model", "load_tokenizer", "merge_adapter",
           "merge_to_folder", "pair", "quantization_kwargs", "resolve_quantization"]
