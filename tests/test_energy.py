"""Energy model: the numbers a user would see for the two reference networks, and its errors."""

import json

import numpy as np
import pytest

from hybrid.energy import (
    ENERGY_TABLES,
    EnergyTable,
    LayerSpec,
    energy_per_inference,
    get_energy_table,
    layer_compute_pj,
    reprogram_energy_pj,
    substrate_cost_table,
    tiles_used,
)

# Fields: name, kind, rows, cols, mvms_per_sample, in_activations, out_activations, parent.
# The paper's network adapted to 8x8 digits (the digits network); input 1x8x8.
DIGITS_NET = [
    LayerSpec("conv1", "conv", 9, 8, 36, 64, 288, parent=None),  # out 8x6x6
    LayerSpec("conv2", "conv", 72, 16, 16, 288, 256, parent=0),  # out 16x4x4
    LayerSpec("fc1", "linear", 256, 256, 1, 256, 256, parent=1),
    LayerSpec("fc2", "linear", 256, 128, 1, 256, 128, parent=2),
    LayerSpec("fc3", "linear", 128, 10, 1, 128, 10, parent=3),
    LayerSpec("fc4", "linear", 128, 2, 1, 128, 2, parent=3),
]

# The paper's CIFAR-10 network (Yasutake and Yoon); input 3x32x32, maxpool 3 after each conv.
CIFAR_NET = [
    LayerSpec("conv1", "conv", 27, 8, 900, 3072, 7200, parent=None),  # out 8x30x30 -> 8x10x10
    LayerSpec("conv2", "conv", 72, 16, 64, 800, 1024, parent=0),  # out 16x8x8 -> 16x2x2
    LayerSpec("fc1", "linear", 64, 256, 1, 64, 256, parent=1),
    LayerSpec("fc2", "linear", 256, 128, 1, 256, 128, parent=2),
    LayerSpec("fc3", "linear", 128, 10, 1, 128, 10, parent=3),
    LayerSpec("fc4", "linear", 128, 2, 1, 128, 2, parent=3),
]

ALL_DIGITAL = [False] * 6
ALL_ANALOG = [True] * 6


def _one_line_value_error(excinfo: pytest.ExceptionInfo, *needles: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


def test_reference_nets_mac_counts():
    assert [s.macs for s in DIGITS_NET] == [2592, 18432, 65536, 32768, 1280, 256]
    assert [s.macs for s in CIFAR_NET] == [194400, 73728, 16384, 32768, 1280, 256]


@pytest.mark.parametrize("net", [DIGITS_NET, CIFAR_NET], ids=["digits", "cifar"])
def test_all_digital_costs_one_pj_per_mac(net):
    report = energy_per_inference(net, ALL_DIGITAL)
    assert report.total_pj == sum(s.macs for s in net) * 1.0
    assert all(layer.crossing_pj == 0 and layer.periphery_pj == 0 for layer in report.layers)


@pytest.mark.parametrize(
    ("net", "tile_mvms", "input_acts", "expected_ratio"),
    [(DIGITS_NET, 36 + 16 + 4, 64, 4.4558), (CIFAR_NET, 900 + 64 + 4, 3072, 2.6943)],
    ids=["digits", "cifar"],
)
def test_all_analog_saving_matches_hand_computation(net, tile_mvms, input_acts, expected_ratio):
    macs = sum(s.macs for s in net)
    # 0.2 pJ/MAC + 50 pJ per tile MVM (every layer fits one tile) + 2 pJ per crossing activation:
    # the digital input into conv1 and the two heads' outputs (10 + 2) back to digital.
    expected = 0.2 * macs + 50.0 * tile_mvms + 2.0 * (input_acts + 10 + 2)
    analog = energy_per_inference(net, ALL_ANALOG).total_pj
    assert analog == pytest.approx(expected)
    ratio = energy_per_inference(net, ALL_DIGITAL).total_pj / analog
    assert ratio == pytest.approx(expected_ratio, abs=1e-4)
    assert 2.5 < ratio < 5.0  # below the 5x per-MAC ceiling


def test_big_linear_layers_save_close_to_the_per_mac_ratio():
    costs = substrate_cost_table(DIGITS_NET)
    saving = costs[:, 0] / costs[:, 1]
    assert saving[2] == pytest.approx(65536 / (0.2 * 65536 + 50))  # fc1, ~4.98x
    assert 4.0 < saving[2] < 5.0 and 4.0 < saving[3] < 5.0


def test_tiny_first_conv_is_a_poor_analog_candidate():
    costs = substrate_cost_table(DIGITS_NET)
    # 2592 MACs: analog 518.4 pJ compute + 36 MVMs x 50 pJ periphery = 2318.4 pJ vs 2592 pJ.
    np.testing.assert_allclose(costs[0], [2592.0, 2318.4])
    # With its crossings (input in, 288 activations out to a digital conv2) it costs more.
    only_conv1 = energy_per_inference(DIGITS_NET, [True] + [False] * 5)
    assert only_conv1.total_pj > energy_per_inference(DIGITS_NET, ALL_DIGITAL).total_pj


def test_substrate_cost_table_shape_and_excludes_crossings():
    costs = substrate_cost_table(CIFAR_NET, EnergyTable())
    assert costs.shape == (6, 2) and costs.dtype == np.float64
    assert costs[:, 0].tolist() == [float(s.macs) for s in CIFAR_NET]
    assert costs[0, 1] == pytest.approx(0.2 * 194400 + 900 * 50)


def test_single_analog_layer_in_the_middle_pays_two_crossings():
    report = energy_per_inference(DIGITS_NET, [False, False, True, False, False, False])
    crossings = [layer.crossing_pj for layer in report.layers]
    assert crossings == [0.0, 0.0, 256 * 2.0, 256 * 2.0, 0.0, 0.0]  # into fc1, into fc2
    expected = sum(s.macs for s in DIGITS_NET) - 65536 + 0.2 * 65536 + 50 + 2 * 512
    assert report.total_pj == pytest.approx(expected)


def test_analog_head_pays_its_output_crossing():
    report = energy_per_inference(DIGITS_NET, [False] * 4 + [True, False])
    fc3 = report.layers[4]
    assert fc3.analog and fc3.crossing_pj == pytest.approx(2.0 * (128 + 10))
    assert sum(layer.crossing_pj for layer in report.layers) == pytest.approx(276.0)


def test_analog_trunk_feeding_a_digital_head_charges_that_head():
    report = energy_per_inference(DIGITS_NET, [True] * 5 + [False])
    assert report.layers[5].crossing_pj == pytest.approx(128 * 2.0)  # fc2 analog -> fc4 digital
    assert report.layers[4].crossing_pj == pytest.approx(10 * 2.0)  # fc3's output only
    assert report.layers[0].crossing_pj == pytest.approx(64 * 2.0)  # the digital input


def test_placement_accepts_numpy_bools_and_ints():
    as_list = energy_per_inference(DIGITS_NET, [True, False] * 3).total_pj
    assert energy_per_inference(DIGITS_NET, np.array([1, 0] * 3)).total_pj == as_list
    assert energy_per_inference(DIGITS_NET, np.array([True, False] * 3)).total_pj == as_list


@pytest.mark.parametrize("placement", [[True] * 5, [True] * 7, [[True] * 6]])
def test_wrong_placement_length_raises(placement):
    with pytest.raises(ValueError) as excinfo:
        energy_per_inference(DIGITS_NET, placement)
    _one_line_value_error(excinfo, "6 toggleable layers")


def test_non_boolean_placement_raises():
    with pytest.raises(ValueError, match="0/1"):
        energy_per_inference(DIGITS_NET, [0, 1, 2, 0, 0, 0])


def test_tiles_used_rounds_up_per_dimension():
    big = LayerSpec("big", "linear", 300, 300, 1, 300, 300)
    assert tiles_used(big, EnergyTable()) == 4
    assert tiles_used(big, EnergyTable(tile_rows=512, tile_cols=512)) == 1
    assert tiles_used(DIGITS_NET[0], EnergyTable()) == 1
    compute, periphery = layer_compute_pj(big, True, EnergyTable())
    assert compute == pytest.approx(0.2 * 90000) and periphery == pytest.approx(4 * 50.0)


def test_reprogram_energy_is_400_pj_per_weight():
    assert reprogram_energy_pj(DIGITS_NET[2]) == 400.0 * 256 * 256
    assert reprogram_energy_pj(DIGITS_NET[0], EnergyTable(reprogram_pj_per_weight=50)) == 3600.0


def test_report_as_dict_is_json_and_matches_total():
    report = energy_per_inference(CIFAR_NET, [False, True, True, True, False, True])
    data = json.loads(json.dumps(report.as_dict()))
    assert data["total_pj"] == pytest.approx(report.total_pj)
    assert [layer["name"] for layer in data["layers"]] == [s.name for s in CIFAR_NET]
    assert sum(layer["total_pj"] for layer in data["layers"]) == pytest.approx(report.total_pj)
    parts = data["compute_pj"] + data["periphery_pj"] + data["crossing_pj"]
    assert parts == pytest.approx(report.total_pj)


def test_presets_and_lookup():
    assert set(ENERGY_TABLES) == {
        "default",
        "hermes-4phase",
        "optimistic-analog",
        "low-power-digital",
    }
    assert get_energy_table(None) == EnergyTable() == get_energy_table("default")
    assert get_energy_table("hermes-4phase").analog_pj_per_mac == 0.8
    assert get_energy_table("optimistic-analog").analog_pj_per_mac == pytest.approx(0.16)
    assert get_energy_table("low-power-digital").digital_pj_per_mac == 0.3
    table = EnergyTable(crossing_pj_per_activation=3.0)
    assert get_energy_table(table) is table
    assert get_energy_table({"tile_rows": 512}).tile_rows == 512
    # A slower analog mode shrinks the all-analog saving.
    hermes = energy_per_inference(DIGITS_NET, ALL_ANALOG, get_energy_table("hermes-4phase"))
    assert hermes.total_pj > energy_per_inference(DIGITS_NET, ALL_ANALOG).total_pj


def test_dict_round_trip_through_json():
    table = EnergyTable(analog_pj_per_mac=0.5, tile_cols=128)
    restored = EnergyTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert restored == table
    assert table.replace(tile_periphery_pj=20.0).tile_periphery_pj == 20.0


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"analog_pj_per_mac": -0.1}, "analog_pj_per_mac"),
        ({"digital_pj_per_mac": float("nan")}, "digital_pj_per_mac"),
        ({"crossing_pj_per_activation": float("inf")}, "crossing_pj_per_activation"),
        ({"tile_rows": 0}, "tile_rows"),
        ({"tile_cols": 12.5}, "tile_cols"),
        ({"reprogram_pj_per_weight": "400"}, "reprogram_pj_per_weight"),
    ],
)
def test_invalid_table_values_raise_naming_the_field(changes, field_name):
    with pytest.raises(ValueError) as excinfo:
        EnergyTable(**changes)
    _one_line_value_error(excinfo, field_name, "use e.g.")


def test_unknown_keys_and_presets_raise_listing_valid_ones():
    with pytest.raises(ValueError) as excinfo:
        EnergyTable.from_dict({"analog_pj_per_mac": 0.2, "adc_pj": 1.0})
    _one_line_value_error(excinfo, "adc_pj", "tile_periphery_pj")
    with pytest.raises(ValueError) as excinfo:
        EnergyTable().replace(analog_pj=0.3)
    _one_line_value_error(excinfo, "analog_pj", "analog_pj_per_mac")
    with pytest.raises(ValueError) as excinfo:
        get_energy_table("hermes")
    _one_line_value_error(excinfo, "hermes-4phase", "optimistic-analog")


def test_invalid_layer_specs_raise():
    with pytest.raises(ValueError, match="kind"):
        LayerSpec("x", "pool", 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="rows"):
        LayerSpec("x", "linear", 0, 1, 1, 1, 1)
    backwards = [DIGITS_NET[1], DIGITS_NET[0]]  # conv2 lists parent 0 but comes first
    with pytest.raises(ValueError, match="forward order"):
        energy_per_inference(backwards, [False, False])
