"""`make results`: every results table in README.md and docs/ is generated from docs/results/."""

import shutil
from pathlib import Path

import pytest

from agents import result_figures, result_tables
from agents.result_tables import main, render, verdict

ROOT = Path(__file__).resolve().parents[1]


def _copy_docs(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("hooks"))
    return tmp_path


def _markdown(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in result_tables.markdown_files(root)}


def test_verdict_words_follow_the_paired_ci():
    assert verdict(0.34, 0.26) == "beats"
    assert verdict(-0.28, 0.24) == "behind"
    assert verdict(0.66, 0.66) == "ties"  # a margin equal to its CI is not beyond it
    assert verdict(-0.04, 0.06) == "ties"


def test_regenerating_a_clean_checkout_changes_nothing(tmp_path):
    root = _copy_docs(tmp_path)
    before = _markdown(root)
    assert main(["--root", str(root)]) == 0
    assert _markdown(root) == before, "run `make results` and commit the regenerated tables"


def test_check_finds_a_hand_edited_table_and_regeneration_restores_it(tmp_path, capsys):
    root = _copy_docs(tmp_path)
    readme = root / "README.md"
    committed = readme.read_text()
    assert "<!-- results:policy-quality-unseen -->" in committed
    edited = committed.replace("| `paper` | 40 | -4.88", "| `paper` | 40 | -4.50", 1)
    assert edited != committed
    readme.write_text(edited)
    assert main(["--root", str(root), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert readme.read_text() == edited  # --check changes nothing
    assert main(["--root", str(root)]) == 0
    assert readme.read_text() == committed


def test_the_headline_keeps_both_chip_counts_and_names_its_sources():
    table = render("policy-quality-unseen")
    for name in ("paper-3seeds.json", "paper-40chips.json"):
        assert f"`{name}`" in table
    assert "--episodes 20" in table and "--episodes 40" in table
    assert "chips 1000-1019" in table and "chips 1000-1039" in table
    assert "test split" in table


def test_the_training_time_table_shows_the_40_chip_file_beside_the_80_chip_one():
    table = render("training-time")
    assert "`quality-imitate.json`" in table and "`quality-imitate-80.json`" in table
    lionheart = [line for line in table.splitlines() if "| lionheart-training |" in line]
    chips = [line.split(" | ")[1] for line in lionheart]
    assert "40" in chips and "80" in chips


def test_an_unknown_table_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown results table 'nope': use one of"):
        render("nope")


def test_a_missing_results_file_is_a_one_line_error(tmp_path, capsys):
    root = tmp_path
    (root / "docs").mkdir()
    (root / "README.md").write_text("<!-- results:default-run -->\n<!-- /results:default-run -->\n")
    assert main(["--root", str(root)]) == 2
    assert "summary.json is missing" in capsys.readouterr().err


def test_the_training_figure_is_drawn_from_the_committed_file(tmp_path):
    out = result_figures.training_energy_figure(tmp_path / "training-energy.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
