"""Faces in video: dlib/FAN landmarks with keyframe tracking, mouth crops, the reference face and
the video features (frame and temporal differences) made from the crops."""
