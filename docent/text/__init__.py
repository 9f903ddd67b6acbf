"""From scraped pages to clean sentences and code blocks: extraction by page kind, normalization, Punkt."""
