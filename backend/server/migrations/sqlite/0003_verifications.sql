-- Students taken home and verified under strong attacks. A verification runs as a job of its
-- experiment; such jobs do not count towards the experiment's status.
ALTER TABLE verifications ADD COLUMN cloud TEXT NOT NULL DEFAULT 'proard';
-- The student record's index, when the arch is one of the cloud's evaluated students.
ALTER TABLE verifications ADD COLUMN record INTEGER;
-- The exported student, relative to the data directory, once written.
ALTER TABLE verifications ADD COLUMN student_path TEXT;
ALTER TABLE jobs ADD COLUMN verification_id INTEGER REFERENCES verifications (id) ON DELETE CASCADE;
