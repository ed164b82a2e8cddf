"""ktiw.data: distributions and families, spec parsing, data-file readers (TSV/CSV/JSONL/
Parquet), tokenisers, the Hugging Face hub and named datasets.  Never imports torch."""
