-- The image-type classifier runs once per image and classifier: whichever stage classifies an image first
-- (preprocess for keyframes and the photos cut out of slides, clean for every other image) records the
-- result here, and clean reads it instead of classifying again. `classifier` is the fingerprint of the
-- profile's image_type settings that change a classification (pipeline.vision.classifier.classifier_key).
CREATE TABLE vision_image_types (
    image_id VARCHAR NOT NULL,       -- preprocess_images.image_id (sha256 of the stored image)
    classifier VARCHAR NOT NULL,
    image_type VARCHAR NOT NULL,     -- clinical_photo | dermoscopy | histopathology | chart_or_diagram | slide_with_text | other
    confidence DOUBLE,
    skin_score DOUBLE,
    backend VARCHAR,                 -- heuristic | densenet:<version> | clip:<model>
    classified_by VARCHAR,           -- the stage that ran the classifier
    PRIMARY KEY (image_id, classifier)
);
