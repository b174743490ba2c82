"""The data layer: embedded sources, the tokenizer, token arrays and the code/text mixture."""
