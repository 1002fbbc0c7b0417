"""The book's answer on one page: every chapter's headline effects (each tuned stage against the
base, with 95% intervals), read from the tables the chapters recorded (`results.headline`)."""
from rlshift.studies.summary import figures
from rlshift.studies.summary.analysis import at_a_glance, by_chapter
from rlshift.studies.summary.inputs import CHAPTERS, folder, headlines, missing, runs_table
from rlshift.studies.summary.params import PARAMS
from rlshift.studies.summary.verdicts import verdicts

__all__ = ["CHAPTERS", "PARAMS", "at_a_glance", "by_chapter", "figures", "folder", "headlines", "missing", "runs_table", "verdicts"]
