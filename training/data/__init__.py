"""Data engine: music sources -> Verovio renders -> labelled grand-staff systems (a `datasets` dataset)."""
