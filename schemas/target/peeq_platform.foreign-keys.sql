-- peeq_platform foreign keys, applied at CUTOVER (after peeq_platform.sql), never while the pipeline syncs.
-- They are the seed's REFERENCES clauses from the peeq_platform design, validated on creation, so the dangling
-- references the reconciler reported have to be resolved first.
-- NO ACTION rather than RESTRICT for the refused case: deleting a group cascades to both its members and its
-- messages in one statement, and RESTRICT on group_messages.member_id could fire mid-cascade, depending on the
-- order. NO ACTION is checked at the end of the statement, after both cascades.

-- Membership of a deleted group means nothing (seed: CASCADE).
ALTER TABLE group_members ADD CONSTRAINT fk_group_members_group
    FOREIGN KEY (group_id) REFERENCES realtime_groups(id) ON DELETE CASCADE;

-- Messages live in their group (seed: CASCADE).
ALTER TABLE group_messages ADD CONSTRAINT fk_group_messages_group
    FOREIGN KEY (group_id) REFERENCES realtime_groups(id) ON DELETE CASCADE;

-- Seed: REFERENCES without ON DELETE, kept as NO ACTION. Members leave by getting removed_on set, and the row stays.
-- Hard-deleting a member who has messages is refused, so conversation history is never orphaned or silently
-- lost. Deleting the whole group still works (see above).
ALTER TABLE group_messages ADD CONSTRAINT fk_group_messages_member
    FOREIGN KEY (member_id) REFERENCES group_members(id) ON DELETE NO ACTION;

-- Seed: REFERENCES without ON DELETE. A notification is already rendered (subject/body are stored), so it stays
-- meaningful when its template is deleted: the key is cleared rather than the delete being blocked or the
-- user's notification history being deleted. References the non-deferrable uq_notification_templates_template_key.
ALTER TABLE notifications ADD CONSTRAINT fk_notifications_template
    FOREIGN KEY (template_key) REFERENCES notification_templates(template_key) ON DELETE SET NULL;
