"""MusicXML prepared for Verovio: used by the data engine's rendering and by the app's preview."""
from lxml import etree as ET

# huge_tree: long scores; no entity expansion or network access from the document
_PARSER = ET.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True, huge_tree=True)


def tag_for_verovio(musicxml: str | bytes, measure_numbers: str = "system") -> str:
    """The piece with an id on every measure (`acai-m<index>`, so SVG groups map back to measures),
    no part labels, and measure numbers at system starts ("system"), everywhere ("every") or off ("none")."""
    root = ET.fromstring(musicxml.encode() if isinstance(musicxml, str) else musicxml, _PARSER)
    for name_tag in ("part-name", "part-abbreviation"):
        for name in root.iter(name_tag):
            name.set("print-object", "no")
    part = root.find("part")
    for index, measure in enumerate(part.findall("measure")):
        measure.set("id", f"acai-m{index}")
    if measure_numbers == "none":
        first = part.find("measure")
        layout = ET.Element("print")
        ET.SubElement(layout, "measure-numbering").text = "none"
        first.insert(0, layout)
    return ET.tostring(root, encoding="unicode")


__all__ = ["tag_for_verovio"]
