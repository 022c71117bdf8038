"""The music layer, no model involved: LMX <-> MusicXML and the score built from a page's systems.

lmx (linearize, delinearize; delinearization, voices and musicxml_input behind them), joining (systems ->
one MusicXML score), midi, measure_lengths (does every measure fill its time signature), score_settings
(the metre and first measure number a musician gives), score (the Score result) and score_assembly
(building it so that a bad system costs only itself), musicxml_schema (XSD validation), preview
(Verovio engraving; verovio_input), audio (MIDI -> WAV with FluidSynth).
"""
