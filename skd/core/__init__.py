"""The bottom layer: settings, errors and the label scale, shared by every package and importing none of ours."""
