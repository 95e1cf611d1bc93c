-- peeq_events foreign keys, applied at CUTOVER (after peeq_events.sql), never while the pipeline syncs.
-- They are the seed's REFERENCES clauses from the peeq_events design, validated on creation, so the dangling
-- references the reconciler reported have to be resolved first. Cross-database references (created_by_id,
-- user_id, group_id, instructor_id → peeq_users; class_tags.tag_id → peeq_platform; associated_item_ids →
-- peeq_commerce) cannot be FKs and stay reconciler checks.

-- A check-in records attendance at one event and has no meaning without it (seed: CASCADE).
ALTER TABLE event_checkins ADD CONSTRAINT fk_event_checkins_event
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;

-- Thumbnails, lesson details, tag links and badges are parts of a class's definition (seed: CASCADE).
ALTER TABLE class_thumbnails ADD CONSTRAINT fk_class_thumbnails_class
    FOREIGN KEY (class_id) REFERENCES classes(id) ON DELETE CASCADE;
ALTER TABLE class_details ADD CONSTRAINT fk_class_details_class
    FOREIGN KEY (class_id) REFERENCES classes(id) ON DELETE CASCADE;
ALTER TABLE class_tags ADD CONSTRAINT fk_class_tags_class
    FOREIGN KEY (class_id) REFERENCES classes(id) ON DELETE CASCADE;
ALTER TABLE class_badges ADD CONSTRAINT fk_class_badges_class
    FOREIGN KEY (class_id) REFERENCES classes(id) ON DELETE CASCADE;

-- Sessions are offerings of a class and are deleted with it (seed: CASCADE). What was sold for a session is
-- recorded in peeq_commerce (transactions/inventory_items), which this cascade does not reach, so purchase
-- history survives.
ALTER TABLE class_sessions ADD CONSTRAINT fk_class_sessions_class
    FOREIGN KEY (class_id) REFERENCES classes(id) ON DELETE CASCADE;

-- Instructor assignments belong to the session (seed: CASCADE).
ALTER TABLE session_instructors ADD CONSTRAINT fk_session_instructors_session
    FOREIGN KEY (session_id) REFERENCES class_sessions(id) ON DELETE CASCADE;
