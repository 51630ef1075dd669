"""The labelled triage corpus (train.csv, test.csv), its templates and generator: see PROVENANCE.md."""
