"""Plot helpers that every chapter's figures go through."""
from rlshift import plots


def test_palette_gives_every_group_its_own_colour_however_many():
    groups = [f"analysis {i}" for i in range(12)] + ["people", "analysis 0"]
    palette = plots.source_palette(groups)
    assert set(palette) == set(groups)
    assert palette["people"] == plots.SOURCE_PALETTE["people"]
    others = [palette[g] for g in groups[:12]]
    assert len(set(map(tuple, others))) == 12  # the book profile had 9+ groups: seaborn's Set2 has 8
