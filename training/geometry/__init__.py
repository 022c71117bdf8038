"""Where each token is on the image, as training signals: boxes and dense targets on the patch grid, box
and guided attention, short crops at a barline, and their dev measurements."""
