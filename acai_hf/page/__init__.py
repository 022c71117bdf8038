"""Pages in, systems out, no model involved: page_input (images and PDFs, within safe bounds), grayscale
(the one conversion to grayscale), system_detection (a box per system; staff_tracing follows bent staff
lines), system_boxes (the box type, its checks and crops) and straightened_crops (crops with level staff
lines).
"""
