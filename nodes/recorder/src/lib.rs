//! kotoba-recorder (placeholder: filled in by its issue)
