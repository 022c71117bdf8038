"""The one schema every system data set uses: our engine's output and loaded outside data alike."""
from datasets import Features, Image, List, Value

SPLITS = ("train", "dev", "test")
GEOMETRY_COLUMNS = ("token_boxes", "token_glyph_boxes", "staff_lines")  # null for data without geometry

FEATURES = Features(
    {
        "image": Image(),  # grayscale PNG of one grand-staff system
        "lmx": Value("string"),  # ground-truth LMX, tokens separated by single spaces
        "musicxml": Value("string"),  # ground-truth MusicXML of exactly the measures in the image
        "source": Value("string"),  # e.g. "procedural", "corpus-piano", "chorale", "quartet", "olimpic"
        "piece_id": Value("string"),  # splits are made by piece, never by system
        "system_index": Value("int32"),  # position of the system within its piece
        "n_measures": Value("int32"),
        "engraving": Value("string"),  # JSON object of the randomised engraving settings ("{}" if unknown)
        # The engraver's geometry in the image's pixels (training/data/token_geometry.py); null without it.
        "token_boxes": List(List(Value("float32"))),  # per LMX token: [x0, y0, x1, y1] of its symbol, or null
        "token_glyph_boxes": List(List(Value("float32"))),  # per token: its own glyph (stem, beam, ...), or null
        "staff_lines": List(List(Value("float32"))),  # per staff, top first: the y of its five lines
    }
)
