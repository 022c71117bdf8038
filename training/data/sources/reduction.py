"""Four single-staff parts (soprano, alto, tenor, bass; or a string quartet) reduced to one grand-staff
part: the upper two parts on the treble staff, the lower two on the lower staff, each part one voice.
The source score is never changed: callers may cache it.
"""
import copy
import math

from lxml import etree as ET

from training.data.sources import grand_staff
from training.data.sources.procedural_pitch import ACCIDENTAL_OF_ALTER

SHARP_ORDER = "FCGDAEB"
# (voice, staff, stem) of the four parts, high to low
REDUCTION_VOICES = (("1", "1", "up"), ("2", "1", "down"), ("5", "2", "up"), ("6", "2", "down"))


def key_alters(fifths: int) -> dict[str, int]:
    """Step -> alteration under a key signature."""
    steps = SHARP_ORDER[:fifths] if fifths >= 0 else SHARP_ORDER[::-1][:-fifths]
    return {step: (1 if fifths > 0 else -1) for step in steps}


def respell_accidentals(measure: ET._Element, fifths: int):
    """Print every accidental a reader needs on the merged staves (and keep those already printed).

    Parts merged onto one staff change which accidentals are needed: an alto F after a soprano F sharp
    needs a natural sign that neither part printed. Accidentals hold for one pitch and octave until the
    barline; a note tied over from before shows none.
    """
    in_key = key_alters(fifths)
    state = {"1": {}, "2": {}}  # staff -> (step, octave) -> alteration in force
    for _, note in sorted(_onsets(measure), key=lambda pair: pair[0]):
        pitch = note.find("pitch")
        if pitch is None:
            continue
        ties = note.findall("tie") + note.findall("notations/tied")
        if any(tie.get("type") == "stop" for tie in ties):
            continue
        step, octave = pitch.findtext("step"), pitch.findtext("octave")
        alter = round(float(pitch.findtext("alter", "0")))
        staff_state = state[note.findtext("staff", "1")]
        if alter != staff_state.get((step, octave), in_key.get(step, 0)) and note.find("accidental") is None:
            grand_staff.set_child(note, "accidental", ACCIDENTAL_OF_ALTER[alter])
        staff_state[(step, octave)] = alter


def _onsets(measure: ET._Element) -> list[tuple[int, ET._Element]]:
    """(onset, note) for every note, in document order."""
    onsets, cursor, previous_onset = [], 0, 0
    for element in measure:
        duration = int(element.findtext("duration", "0"))
        if element.tag == "note":
            is_chord = element.find("chord") is not None
            onsets.append((previous_onset if is_chord else cursor, element))
            if not is_chord and element.find("grace") is None:
                previous_onset, cursor = cursor, cursor + duration
        elif element.tag == "backup":
            cursor -= duration
        elif element.tag == "forward":
            cursor += duration
    return onsets


def reduce_to_grand_staff(parts: list[ET._Element], start: int, stop: int) -> ET._Element:
    """Measures [start, stop) of four single-staff parts (high to low) as one piano part: the upper two
    on a treble staff in voices 1 (stems up) and 2 (down), the lower two on the lower staff in 5 and 6."""
    if len(parts) != 4 or len({len(part.findall("measure")) for part in parts}) != 1:
        raise ValueError("need four parts of equal length")
    divisions = math.lcm(*(int(d.text) for part in parts for d in part.iter("divisions")))
    reduced = ET.Element("part", id="P1")
    scales = [1] * 4  # common divisions / each part's divisions
    fifths, lower_clef = 0, "F"
    for index, measures in enumerate(zip(*(part.findall("measure") for part in parts))):
        if index == stop:
            break
        for k, measure in enumerate(measures):
            for d in measure.iter("divisions"):
                scales[k] = divisions // int(d.text)
        head = measures[0].find("attributes")
        key = head.find("key") if head is not None else None
        fifths = int(key.findtext("fifths")) if key is not None else fifths
        if index >= start:
            numbering = {k: v for k, v in measures[0].attrib.items() if k in ("number", "implicit")}
            merged = ET.SubElement(reduced, "measure", numbering)
            _merge_voices(merged, measures, scales)
            grand_staff.mark_measure_rests(merged)
            respell_accidentals(merged, fifths)
            clef = _lower_clef(merged, lower_clef)
            changed_clef = clef if index == start or clef != lower_clef else None
            attributes = _merged_attributes(head, divisions, fifths, index == start, changed_clef)
            if len(attributes):
                merged.insert(0, attributes)
            lower_clef = clef
    return reduced


def _lower_clef(merged: ET._Element, current: str) -> str:
    """Treble ("G") while the lower parts sit high (a viola above middle C), bass ("F") otherwise; the
    margin between the two thresholds keeps the clef from flickering."""
    heights = [
        7 * int(n.findtext("pitch/octave")) + "CDEFGAB".index(n.findtext("pitch/step"))
        for n in merged.findall("note")
        if n.findtext("staff") == "2" and n.find("pitch") is not None
    ]
    if not heights:
        return current
    mean = sum(heights) / len(heights)
    if mean >= 30:  # E4 and up
        return "G"
    return "F" if mean <= 26 else current  # A3 and down


def _merged_attributes(head, divisions: int, fifths: int, system_start: bool, lower_clef: str | None):
    """Key and time where the top part has them (the key always at the start); treble clef above, and
    the lower clef at the start and wherever it changes."""
    attributes = ET.Element("attributes")
    if system_start:
        ET.SubElement(attributes, "divisions").text = str(divisions)
    if system_start or (head is not None and head.find("key") is not None):
        ET.SubElement(ET.SubElement(attributes, "key"), "fifths").text = str(fifths)
    time = head.find("time") if head is not None else None
    if time is not None:
        new_time = ET.SubElement(attributes, "time")
        ET.SubElement(new_time, "beats").text = time.findtext("beats")
        ET.SubElement(new_time, "beat-type").text = time.findtext("beat-type")
    if system_start:
        ET.SubElement(attributes, "staves").text = "2"
    clefs = [("1", "G", "2")] if system_start else []
    if lower_clef is not None:
        clefs.append(("2", lower_clef, "2" if lower_clef == "G" else "4"))
    for number, sign, line in clefs:
        clef = ET.SubElement(attributes, "clef", number=number)
        ET.SubElement(clef, "sign").text = sign
        ET.SubElement(clef, "line").text = line
    return attributes


def _merge_voices(merged: ET._Element, measures: tuple, scales: list[int]):
    """Each part's first voice in turn, with backups between; barlines of the top part around them."""
    barlines = [copy.deepcopy(b) for b in measures[0].findall("barline")]
    merged.extend(b for b in barlines if b.get("location") == "left")
    previous_length = 0
    for k, (measure, (voice, staff, stem)) in enumerate(zip(measures, REDUCTION_VOICES)):
        if previous_length:
            backup = ET.SubElement(merged, "backup")
            ET.SubElement(backup, "duration").text = str(previous_length)
        previous_length = 0
        for event in _main_voice(measure, scales[k]):
            if event.tag == "note":
                _assign_voice(event, voice, staff, stem, number=str(k + 1))
            else:  # a forward: say whose gap it is
                ET.SubElement(event, "voice").text = voice
                ET.SubElement(event, "staff").text = staff
            merged.append(event)
            if event.find("chord") is None and event.find("grace") is None:
                previous_length += int(event.findtext("duration", "0"))
    merged.extend(b for b in barlines if b.get("location") != "left")


def _main_voice(measure: ET._Element, scale: int) -> list[ET._Element]:
    """Copies of the notes of the measure's first voice, durations rescaled, gaps as forwards."""
    main, events, position = None, [], 0
    for onset, note in _onsets(measure):
        voice = note.findtext("voice", "1")
        main = main or voice
        if voice != main or not grand_staff.drawable(note):
            continue  # the gap it leaves becomes a forward
        onset *= scale
        event = copy.deepcopy(note)
        _strip_note(event)
        duration = event.find("duration")
        if duration is not None:
            duration.text = str(int(duration.text) * scale)
        if event.find("chord") is None:
            if onset < position:
                raise ValueError(f"measure {measure.get('number')}: overlapping notes in one voice")
            if onset > position:
                gap = ET.Element("forward")
                ET.SubElement(gap, "duration").text = str(onset - position)
                events.append(gap)
            if event.find("grace") is None:
                position = onset + int(duration.text)
        events.append(event)
    return events


def _strip_note(note: ET._Element):
    """Drop what the merged part re-assigns (voice, staff, stem) or never shows."""
    grand_staff.clean_note(note)
    for element in list(note):
        if element.tag in ("voice", "staff", "stem"):
            note.remove(element)


def _assign_voice(note: ET._Element, voice: str, staff: str, stem: str, number: str):
    grand_staff.set_child(note, "voice", voice)
    if note.find("rest") is None and note.findtext("type") not in grand_staff.UNSTEMMED_TYPES:
        grand_staff.set_child(note, "stem", stem)
    grand_staff.set_child(note, "staff", staff)
    for spanner in note.iter("slur", "tuplet"):
        spanner.set("number", number)  # the four parts numbered their slurs independently
