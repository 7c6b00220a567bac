"""Files in and out: media, the manifest, feature stores, params, splits, pictures, atomic writes."""
