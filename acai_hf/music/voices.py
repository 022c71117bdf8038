"""Voice numbers the OLiMPiC way (MuseScore's): 1-4 on the upper staff, 5-8 on the lower one."""
import xml.etree.ElementTree as ET

VOICES_PER_STAFF = 4


def renumber_voices(part: ET.Element) -> None:
    """Renumbers voices in place, measure by measure.

    A voice belongs to the staff of its first note in the measure (cross-staff notes keep their
    voice); a staff's voices are numbered in order of appearance. music21 numbers voices its own
    way; MusicXML that already follows the convention (all gold systems) comes out unchanged.
    """
    for measure in part.iter("measure"):
        renamed: dict[str, str] = {}
        voices_on_staff: dict[int, int] = {}
        for element in measure:
            voice = element.find("voice")
            if voice is None or voice.text in renamed:
                continue
            staff = int(element.findtext("staff", "1"))
            rank = voices_on_staff.get(staff, 0) + 1
            if rank > VOICES_PER_STAFF:
                raise ValueError(f"Measure {measure.get('number')}: more than {VOICES_PER_STAFF} "
                                 f"voices on staff {staff}, which LMX cannot number")
            voices_on_staff[staff] = rank
            renamed[voice.text] = str((staff - 1) * VOICES_PER_STAFF + rank)
        for element in measure:
            voice = element.find("voice")
            if voice is not None:
                voice.text = renamed[voice.text]
