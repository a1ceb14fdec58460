import numpy as np
import pytest

from keras_cmod import wavelets


@pytest.mark.parametrize("name", ["qshift_a", "qshift_b", "qshift_c",
                                  "qshift_d"])
def test_qshift_lowpass_sums_to_sqrt2_and_unit_norm(name):
    f = wavelets.qshift_filters(name)
    for key in ("ha", "hb"):
        assert f[key].sum() == pytest.approx(np.sqrt(2), abs=1e-7)
        assert np.linalg.norm(f[key]) == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("name", ["qshift_a", "qshift_b", "qshift_c",
                                  "qshift_d"])
def test_qshift_time_reversal(name):
    f = wavelets.qshift_filters(name)
    np.testing.assert_array_equal(f["hb"], f["ha"][::-1])
    np.testing.assert_array_equal(f["gb"], f["ga"][::-1])
    assert abs(f["ga"].sum()) < 1e-4  # high-pass: ~no DC (published taps)


def test_qshift_a_values_match_spec():
    f = wavelets.qshift_filters("qshift_a")
    ha = [-0.0061818819, -0.0016896813, -0.1002312195, 0.0008736227,
          0.5636557101, 0.7666284678, 0.2638395611, -0.1098360517,
          -0.0139753702, 0.0511304053]
    ga = [-0.0511304053, -0.0139753702, 0.1098360517, 0.2638395611,
          -0.7666284678, 0.5636557101, -0.0008736227, -0.1002312195,
          0.0016896813, -0.0061818819]
    assert len(f["ha"]) == 10
    np.testing.assert_allclose(f["ha"], ha, atol=1e-10)
    np.testing.assert_allclose(f["ga"], ga, atol=1e-10)
    assert f["ha"].dtype == np.float64


def test_qshift_a_matches_reference_fixture(data_dir):
    ref = np.load(f"{data_dir}/dtcwpt_j2_reference.npz")
    f = wavelets.qshift_filters()
    for key in ("ha", "hb", "ga", "gb"):
        np.testing.assert_allclose(f[key], ref[key], atol=1e-7)


def test_qshift_orthonormal_shifts():
    # <h, h shifted by 2k> = delta_k (orthogonal CMF).
    ha = wavelets.qshift_filters()["ha"]
    full = np.correlate(ha, ha, mode="full")
    mid = len(ha) - 1
    np.testing.assert_allclose(full[mid::2], np.eye(1, len(full[mid::2]))[0],
                               atol=1e-8)


def test_biort_names():
    h0o, g0o, h1o, g1o = wavelets.biort("near_sym_a")
    assert (len(h0o), len(h1o)) == (5, 7)


@pytest.mark.parametrize("bad", ["qshift_z", "db4", ""])
def test_unknown_filter_name(bad):
    with pytest.raises(ValueError, match="qshift_a"):
        wavelets.qshift_filters(bad)


def test_data_loads_from_installed_package():
    from importlib import resources

    path = resources.files("keras_cmod.wavelets") / "data" / "qshift_a.npz"
    assert path.is_file()


@pytest.mark.parametrize("size,expected", [(1, [1]), (2, [0.5, 0.5]),
                                           (3, [0.25, 0.5, 0.25])])
def test_binomial_filter(size, expected):
    np.testing.assert_allclose(wavelets.binomial_filter(size), expected)


@pytest.mark.parametrize("bad", [0, 8, 2.5, "3"])
def test_binomial_filter_bad_size(bad):
    with pytest.raises(ValueError, match="1..7"):
        wavelets.binomial_filter(bad)
