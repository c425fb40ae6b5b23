"""Pipeline (layer 5): run the pack notebooks with papermill and publish HTML with nbconvert."""
