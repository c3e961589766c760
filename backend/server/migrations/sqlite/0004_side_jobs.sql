-- Jobs outside the pipeline (verifications, predictor fits) do not count towards their
-- experiment's status or progress; a fitted predictor keeps its report (held-out points).
ALTER TABLE jobs ADD COLUMN side_job INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET side_job = 1 WHERE verification_id IS NOT NULL;
ALTER TABLE predictors ADD COLUMN report TEXT;
