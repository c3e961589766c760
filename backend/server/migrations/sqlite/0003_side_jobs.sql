-- Side jobs: verifications (a student exported and attacked) and predictor fits run as jobs of
-- their experiment but do not count towards its status or progress.
ALTER TABLE jobs ADD COLUMN side_job INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN verification_id INTEGER REFERENCES verifications (id) ON DELETE CASCADE;
-- The exported student, relative to the data directory, once written.
ALTER TABLE verifications ADD COLUMN student_path TEXT;
-- A fitted predictor's report: every held-out student measured and predicted.
ALTER TABLE predictors ADD COLUMN report TEXT;
