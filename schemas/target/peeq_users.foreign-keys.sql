-- peeq_users foreign keys, applied at CUTOVER (after peeq_users.sql), never while the pipeline syncs.
-- These are the seed's REFERENCES clauses from the peeq_users design, with Appendix B's names for the two
-- fan_follows constraints. They are validated on creation: every dangling reference the reconciler reported
-- (references.yaml) has to be resolved first, or the ALTER fails.
-- ON DELETE NO ACTION is preferred to RESTRICT where a delete should be refused. NO ACTION is checked at the end
-- of the statement, so a delete that cascades through several tables (a profile and everything under it)
-- resolves before the check. RESTRICT checks row by row and can fail depending on cascade order.

-- A profile's images are part of the profile: deleting the profile deletes them (seed: CASCADE).
ALTER TABLE profile_images ADD CONSTRAINT fk_profile_images_profile
    FOREIGN KEY (profile_id) REFERENCES profiles(id) ON DELETE CASCADE;

-- Tag links of a deleted profile mean nothing (seed: CASCADE). The tag itself lives in peeq_platform and is not touched.
ALTER TABLE profile_tags ADD CONSTRAINT fk_profile_tags_profile
    FOREIGN KEY (profile_id) REFERENCES profiles(id) ON DELETE CASCADE;

-- A follow needs both ends: deleting the fan or the celebrity removes the follow (seed and Appendix B: CASCADE).
ALTER TABLE fan_follows ADD CONSTRAINT fk_fan_follows_fan
    FOREIGN KEY (fan_id) REFERENCES profiles(id) ON DELETE CASCADE;
ALTER TABLE fan_follows ADD CONSTRAINT fk_fan_follows_celebrity
    FOREIGN KEY (celebrity_id) REFERENCES profiles(id) ON DELETE CASCADE;

-- Status history describes one profile. A hard delete of a profile after cutover is an erasure (account deletion),
-- and its audit trail goes with it (seed: CASCADE). Ordinary deactivation is a status change and keeps the history.
ALTER TABLE profile_status_history ADD CONSTRAINT fk_profile_status_history_profile
    FOREIGN KEY (profile_id) REFERENCES profiles(id) ON DELETE CASCADE;

-- Seed: REFERENCES without ON DELETE. A sub-group is an organisation in its own right: deleting its parent makes it
-- top-level rather than deleting it (CASCADE would silently delete a tree) or blocking the delete.
ALTER TABLE profiles ADD CONSTRAINT fk_profiles_parent_group
    FOREIGN KEY (parent_group_id) REFERENCES profiles(id) ON DELETE SET NULL;

-- Seed: REFERENCES without ON DELETE, kept as NO ACTION. A group must not lose its owner silently: ownership is
-- transferred before the owner's profile can be deleted.
ALTER TABLE profiles ADD CONSTRAINT fk_profiles_owner
    FOREIGN KEY (owner_id) REFERENCES profiles(id) ON DELETE NO ACTION;
