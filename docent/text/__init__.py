"""From scraped pages to clean sentences: HTML/text extraction, normalisation, Punkt splitting."""
