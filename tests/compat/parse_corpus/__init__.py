"""Golden parse verdicts of the Perl ldirectord: case definitions, recordings, helpers."""
