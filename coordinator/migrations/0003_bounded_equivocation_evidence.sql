-- Bounded evidence of equivocation: for each contested slot (site, form, period, revision) the
-- first conflicting envelope is kept whole, as proof; later conflicting deliveries for the
-- same slot are only counted. A site (buggy, or with a stolen key) sending conflict after
-- conflict can no longer grow the store without bound.
ALTER TABLE equivocations ADD COLUMN later_conflicts INTEGER NOT NULL DEFAULT 0
    CHECK (later_conflicts >= 0);

-- Fold what version 2 kept: each slot keeps its first row, counting the others.
UPDATE equivocations
    SET later_conflicts = (
        SELECT COUNT(*) FROM equivocations later
        WHERE later.site = equivocations.site AND later.form_id = equivocations.form_id
          AND later.form_version = equivocations.form_version
          AND later.period = equivocations.period AND later.revision = equivocations.revision
          AND later.id > equivocations.id)
    WHERE id = (
        SELECT MIN(first.id) FROM equivocations first
        WHERE first.site = equivocations.site AND first.form_id = equivocations.form_id
          AND first.form_version = equivocations.form_version
          AND first.period = equivocations.period AND first.revision = equivocations.revision);
DELETE FROM equivocations
    WHERE id > (
        SELECT MIN(first.id) FROM equivocations first
        WHERE first.site = equivocations.site AND first.form_id = equivocations.form_id
          AND first.form_version = equivocations.form_version
          AND first.period = equivocations.period AND first.revision = equivocations.revision);

CREATE UNIQUE INDEX equivocations_one_per_slot
    ON equivocations (site, form_id, form_version, period, revision);
