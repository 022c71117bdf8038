"""What each button does. Plain functions of the workspace, testable without a browser; ui.py wires them."""
import math
from dataclasses import dataclass

import gradio as gr

from acai_hf.app.compare import compare_view
from acai_hf.app.model import ModelHolder
from acai_hf.app.options import MAX_LMX_CHARS, check_lmx_text, check_options, score_settings
from acai_hf.app.outputs import write_score_files
from acai_hf.app.report import calibration_text, report_markdown, system_estimate_text
from acai_hf.app.session import RequestDirs, session_of
from acai_hf.app.user_errors import UserError
from acai_hf.app.workspace import System, Workspace, annotator_value, open_pages, store_annotator, system_crops
from acai_hf.model.calibration import LIKELY_POOR, Calibration
from acai_hf.music.key_check import lone_key_warning, lone_keys
from acai_hf.music.score import Score
from acai_hf.transcription import assemble, read_systems

MAX_EDITED_CHARS = 10 * MAX_LMX_CHARS  # all systems' LMX together: far more than the model writes for 300
UNCHECKED_HINT = ": give the metre under *Metre and measure numbers* and press *Re-render*"


@dataclass
class Rendered:
    """Everything the result area shows for one score."""
    downloads: list[str]  # .musicxml, .mxl, .mid
    preview: str  # HTML
    audio: str | None  # a WAV file, None when the music cannot be played
    report: str  # markdown
    compare: str = ""  # HTML: each system's crop above its engraving (app/compare.py)


class OmrApp:
    def __init__(self, model_dir=None, dirs: RequestDirs | None = None, int8=False):
        self.model = ModelHolder(model_dir, int8=int8)
        self.dirs = dirs or RequestDirs()

    # -- pages and boxes -------------------------------------------------------------------------

    def load(self, data, pages=None, on_page=None):
        """-> (workspace, annotator value, page choices, status markdown). `on_page(done, total)`: see open_pages."""
        workspace = open_pages(data, pages, on_page)
        found = sum(len(page.boxes) for page in workspace.pages)
        status = (f"{len(workspace.pages)} page(s), {found} system(s) found. Check the boxes (drag, resize, "
                  "add, delete), then press Transcribe.")
        if found == 0:
            status = "No system found. Draw a box around each system (both staves), then press Transcribe."
        return workspace, annotator_value(workspace), page_choices(workspace), status

    def switch_page(self, workspace, value, page_number):
        """Keep the shown page's boxes, show another page."""
        workspace = require_pages(workspace)
        store_annotator(workspace, value)
        index = int(page_number) - 1
        if not 0 <= index < len(workspace.pages):
            raise UserError(f"There is no page {page_number}.")
        workspace.current = index
        return workspace, annotator_value(workspace)

    def propose_again(self, workspace):
        """The current page's boxes back to the detected ones."""
        workspace = require_pages(workspace)
        page = workspace.pages[workspace.current]
        page.boxes, page.orientation = list(page.proposed), 0
        return workspace, annotator_value(workspace)

    # -- the model -------------------------------------------------------------------------------

    def _progress(self, progress, total):
        """A transcription progress callback that advances the bar per batch of systems."""
        progress = progress or _no_progress
        progress((0, total), desc="Transcribing systems", unit="systems")
        return lambda done, _total: progress((done, total), desc="Transcribing systems", unit="systems")

    def _model_call(self, run, count, progress):
        """run(model, processor, on_batch) with the shared model; any failure becomes a gr.Error."""
        model, processor = self.model.get()
        try:
            return run(model, processor, self._progress(progress, count))
        except gr.Error:
            raise
        except Exception as error:
            raise gr.Error(f"Transcription failed: {error}") from error

    def _read(self, systems: list[System], beams, constrained, progress) -> None:
        """The systems through the model: each gets its LMX, confidence and expected accuracy."""
        crops = [system.crop for system in systems]
        texts, confidences, expected = self._model_call(
            lambda model, processor, on_batch: read_systems(model, processor, crops, self.model.calibration,
                                                            num_beams=beams, constrained=constrained,
                                                            progress=on_batch),
            len(crops), progress)
        for system, lmx, confidence, accuracy in zip(systems, texts, confidences, expected):
            system.lmx, system.confidence, system.expected_accuracy = lmx, confidence, accuracy
            system.edited = False

    def transcribe_systems(self, workspace, beams, constrained, progress=None, preview=False
                           ) -> tuple[Score, list[str]]:
        """Every page's valid boxes through the model: fills workspace.systems; -> (score, box messages).
        `preview`: engrave the score too (the page tab shows it; the API does not)."""
        systems, messages = system_crops(workspace)
        self._read(systems, beams, constrained, progress)
        workspace.systems = systems
        for message in messages:
            gr.Warning(message)
        return self._assemble(workspace, preview), messages

    def _assemble(self, workspace: Workspace, preview: bool) -> Score:
        """The score of the workspace's systems; each system learns whether it was left out, and why."""
        systems = workspace.systems
        score = assemble([system.lmx for system in systems], [system.confidence for system in systems],
                         [system.expected_accuracy for system in systems], workspace.settings, preview)
        for index, system in enumerate(systems):
            system.problem = score.left_out.get(index)
        return score

    def transcribe(self, workspace, value, beams=1, constrained=True, progress=None, request=None,
                   time_signature=None, first_measure=None):
        """All pages' boxes -> systems -> one score. -> (workspace, Rendered).
        `time_signature` ("3/4") and `first_measure`: for a page that prints no metre or does not start at 1."""
        workspace = require_pages(workspace)
        beams, constrained = check_options(beams, constrained)
        workspace.settings = score_settings(time_signature, first_measure)
        store_annotator(workspace, value)
        score, messages = self.transcribe_systems(workspace, beams, constrained, progress, preview=True)
        return workspace, self.present(score, request, workspace.systems, messages)

    def rerun(self, workspace, number, texts, beams=4, constrained=True, progress=None, request=None,
              time_signature=None, first_measure=None):
        """System `number` (1-based) through the model again; the other systems keep their (edited) LMX."""
        workspace = require_systems(workspace)
        beams, constrained = check_options(beams, constrained)
        workspace.settings = score_settings(time_signature, first_measure)
        apply_edits(workspace, texts)
        if not 1 <= int(number) <= len(workspace.systems):
            raise UserError(f"There is no system {number}.")
        self._read([workspace.systems[int(number) - 1]], beams, constrained, progress)
        return workspace, self.render(workspace, request)

    def rerender(self, workspace, texts, request=None, time_signature=None, first_measure=None):
        """After an LMX edit (or a new metre or first measure number): join, MIDI, preview and report
        again; no model run."""
        workspace = require_systems(workspace)
        workspace.settings = score_settings(time_signature, first_measure)
        apply_edits(workspace, texts)
        return workspace, self.render(workspace, request)

    # -- results ---------------------------------------------------------------------------------

    def render(self, workspace: Workspace, request=None, notes=()) -> Rendered:
        score = self._assemble(workspace, preview=True)
        return self.present(score, request, workspace.systems, notes)

    def present(self, score: Score, request=None, systems=(), notes=()) -> Rendered:
        from acai_hf.music.audio import PlaybackUnavailable, midi_to_wav
        from acai_hf.music.preview import render_preview

        directory = self.dirs.new(session_of(request))
        files = write_score_files(directory, score.musicxml, score.midi)
        report = report_markdown(score, unchecked_hint=UNCHECKED_HINT, estimates=True,
                                 calibration=self.model.calibration, edited=[system.edited for system in systems])
        if notes:
            report += "\n\n**Boxes left out:**\n" + "\n".join(f"- {note}" for note in notes)
        audio = directory / "score.wav"
        try:
            audio.write_bytes(midi_to_wav(score.midi))
        except ValueError as error:  # too long or nothing to play: the downloads still stand
            audio = None
            report += f"\n\nNo playback: {error}."
        except PlaybackUnavailable as missing:  # no FluidSynth here: say so, deliver the rest
            audio = None
            report += f"\n\nPlayback is unavailable on this server: {missing}."
        preview = score.preview if score.preview is not None else render_preview(score.musicxml)
        return Rendered(files.downloads(), preview, str(audio) if audio else None, report,
                        compare_view(score, list(systems)))

    def convert_lmx(self, lmx_text, request=None):
        """LMX text (a system per paragraph) -> (MusicXML path, MIDI path, report markdown)."""
        score = assemble(check_lmx_text(lmx_text))
        files = write_score_files(self.dirs.new(session_of(request)), score.musicxml, score.midi)
        return str(files.musicxml), str(files.midi), report_markdown(score)

    # -- the API ---------------------------------------------------------------------------------

    def api_transcribe(self, data, pages=None, beams=1, constrained=True, progress=None, request=None):
        """One page file, automatic boxes -> (MusicXML path, MIDI path, LMX text, summary dict)."""
        beams, constrained = check_options(beams, constrained)
        workspace = open_pages(data, pages)
        score, _ = self.transcribe_systems(workspace, beams, constrained, progress)
        files = write_score_files(self.dirs.new(session_of(request)), score.musicxml, score.midi)
        lmx_text = "\n\n".join(system.lmx for system in workspace.systems)
        return str(files.musicxml), str(files.midi), lmx_text, summary(workspace, score, self.model.calibration)


def summary(workspace: Workspace, score: Score, calibration: Calibration | None = None) -> dict:
    counts = score.measures_per_system()
    key_warnings = {lone.system: lone_key_warning(lone) for lone in lone_keys(score.systems)}
    systems = []
    for index, system in enumerate(workspace.systems):
        known = system.confidence is not None and math.isfinite(system.confidence)  # JSON has no NaN
        entry = {"page": system.page + 1, "box": system.box.as_dict(),
                 "confidence": system.confidence if known else None,
                 "probability": math.exp(system.confidence) if known else None,
                 "expected_accuracy": system.expected_accuracy,
                 "likely_poor": None if system.expected_accuracy is None else system.expected_accuracy < LIKELY_POOR}
        if counts is not None:
            entry["measures"] = counts[index]
        entry["error"] = score.left_out.get(index)  # why it is not in the score; None when it is
        entry["key_warning"] = key_warnings.get(index)  # its key stands alone between two that agree
        systems.append(entry)
    return {
        "pages": len(workspace.pages),
        "calibration": calibration_text(calibration),  # what expected_accuracy is worth, or why there is none
        "systems": systems,
        "measures": len(score.validity),
        "measures_not_filling": [r.number for r in score.bad_measures()],
        "measures_unchecked": [r.number for r in score.unchecked_measures()],  # no time signature in force
        "left_out": [index + 1 for index in score.left_out],
        "errors": [[{"severity": e.severity, "position": e.position, "message": e.message} for e in errors]
                   for errors in score.errors],
    }


def page_choices(workspace: Workspace) -> list[str]:
    return [str(number) for number in range(1, len(workspace.pages) + 1)]


def require_pages(workspace) -> Workspace:
    if workspace is None or not workspace.pages:
        raise UserError("Upload a page first (or pick an example below).")
    return workspace


def require_systems(workspace) -> Workspace:
    if workspace is None or not workspace.systems:
        raise UserError("Transcribe first: there are no systems yet.")
    return workspace


def apply_edits(workspace: Workspace, texts) -> None:
    """The visitor's LMX, one text per system in order (None: leave that system as it is)."""
    texts = list(texts or [])
    if len(texts) > len(workspace.systems):
        raise UserError("There are more texts than systems; transcribe again.")
    total = sum(len(str(text)) for text in texts if text is not None)
    if total > MAX_EDITED_CHARS:
        raise UserError(f"The systems' LMX is {total:,} characters in all; the limit is {MAX_EDITED_CHARS:,}.")
    for number, (system, text) in enumerate(zip(workspace.systems, texts), start=1):
        if text is None:
            continue
        if len(str(text)) > MAX_LMX_CHARS:
            raise UserError(f"The LMX of system {number} is {len(str(text)):,} characters; the limit is "
                           f"{MAX_LMX_CHARS:,}.")
        lmx = " ".join(str(text).split())
        if lmx != system.lmx:  # the page sends every system's text back, changed or not
            system.lmx, system.edited = lmx, True


def system_label(number: int, system: System) -> str:
    estimate = system_estimate_text(system.expected_accuracy, system.confidence, system.edited)
    label = f"**System {number}** (page {system.page + 1}): {estimate}"
    if system.problem:
        label += f". **Left out of the score:** {system.problem}"
    return label


def _no_progress(*_args, **_kwargs):
    pass
