"""Strategy choice from the environment, chief selection, batch split."""

import json

import pytest
import tensorflow as tf

from keras_cmod.training import strategy as st


def _tf_config(monkeypatch, cluster, task=None):
    value = {"cluster": cluster}
    if task is not None:
        value["task"] = task
    monkeypatch.setenv("TF_CONFIG", json.dumps(value))


def test_auto_without_tf_config_is_one_device(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    expected = ("mirrored" if len(tf.config.list_physical_devices("GPU")) > 1
                else "one_device")
    assert st.resolve_strategy_name("auto") == expected
    assert st.is_chief()
    strategy = st.get_strategy("one_device")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_auto_with_a_cluster_is_multi_worker(monkeypatch):
    workers = ["127.0.0.1:1", "127.0.0.1:2"]
    _tf_config(monkeypatch, {"worker": workers},
               {"type": "worker", "index": 1})
    assert st.resolve_strategy_name("auto") == "multi_worker"
    assert not st.is_chief()
    _tf_config(monkeypatch, {"worker": workers},
               {"type": "worker", "index": 0})
    assert st.is_chief()
    _tf_config(monkeypatch, {"chief": ["h:1"], "worker": workers},
               {"type": "worker", "index": 0})
    assert not st.is_chief()
    _tf_config(monkeypatch, {"chief": ["h:1"], "worker": workers},
               {"type": "chief", "index": 0})
    assert st.is_chief()
    _tf_config(monkeypatch, {"worker": workers[:1]},
               {"type": "worker", "index": 0})
    assert st.resolve_strategy_name("auto") in ("one_device", "mirrored")


def test_invalid_tf_config_and_names(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        st.resolve_strategy_name("auto")
    monkeypatch.setenv("TF_CONFIG", '{"task": {}}')
    with pytest.raises(ValueError, match="'cluster'"):
        st.tf_config()
    with pytest.raises(ValueError, match="Unknown strategy"):
        st.resolve_strategy_name("horovod")


def test_per_replica_batch_size_suggests_valid_sizes():
    assert st.per_replica_batch_size(256, 4) == 64
    with pytest.raises(ValueError, match="--batch-size 255 or 258"):
        st.per_replica_batch_size(256, 3)
