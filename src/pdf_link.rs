//! Remote-PDF bill links (setting 20 base URL, setting 119 versions 1-4).
