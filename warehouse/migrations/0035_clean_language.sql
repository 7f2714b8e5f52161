-- Issue 17: the language of forum texts named by a real detector (pipeline/clean/translate.py) and what
-- became of a non-English text. clean_texts.language now holds an ISO 639-1 code ('und': not named).
ALTER TABLE clean_texts ADD COLUMN language_confidence DOUBLE;  -- the detector's confidence in `language`
ALTER TABLE clean_texts ADD COLUMN language_detector VARCHAR;   -- lingua | stopwords
ALTER TABLE clean_texts ADD COLUMN translation VARCHAR;         -- translated | no_llm | off | failed; NULL: English
