-- Stage 5, augment: ontology labels and Derm1M's caption kinds per pair.
CREATE TABLE augment_captions (
    pair_id VARCHAR PRIMARY KEY,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL,            -- lexical | llm:<model>
    prompt_version VARCHAR,
    ontology_version VARCHAR NOT NULL,
    caption VARCHAR NOT NULL,
    truncated_caption VARCHAR NOT NULL,
    refined_caption VARCHAR NOT NULL,
    ontology_caption VARCHAR,
    concept_caption VARCHAR,
    disease_label VARCHAR NOT NULL,
    hierarchical_disease_label VARCHAR NOT NULL,
    condition_ids JSON,
    skin_concept VARCHAR NOT NULL,
    concept_ids JSON,
    body_location VARCHAR NOT NULL,
    symptoms VARCHAR NOT NULL,
    age VARCHAR NOT NULL,
    gender VARCHAR NOT NULL,
    skin_tone VARCHAR NOT NULL
);
