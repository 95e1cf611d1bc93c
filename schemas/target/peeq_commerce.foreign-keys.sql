-- peeq_commerce foreign keys, applied at CUTOVER (after peeq_commerce.sql), never while the pipeline syncs.
-- They are the seed's REFERENCES clauses from the peeq_commerce design plus Appendix B's fk_transactions_item, and
-- they are validated on creation, so the dangling references the reconciler reported have to be resolved first.
-- Appendix B's fk_transactions_user (transactions.user_id → profiles(id) ON DELETE RESTRICT) is NOT here:
-- profiles lives in peeq_users, and PostgreSQL has no cross-database foreign keys. It stays a reconciler check
-- (references.yaml: transactions_user). The same goes for every created_by_id / user_id → peeq_users and
-- associated_tags → peeq_platform. associated_series / associated_subscriptions are arrays, on which PostgreSQL
-- cannot declare FKs, so they stay reconciler checks too.
-- NO ACTION rather than RESTRICT where a delete must be refused: it is checked at the end of the statement, so
-- cascades inside the same statement resolve first.

-- Price/stock/state history belongs to its item and is meaningless without it (seed: CASCADE). Items are archived
-- by state, not deleted. A hard delete is an administrative purge that takes its history along.
ALTER TABLE inventory_price_history ADD CONSTRAINT fk_inventory_price_history_item
    FOREIGN KEY (inventory_item_id) REFERENCES inventory_items(id) ON DELETE CASCADE;
ALTER TABLE inventory_quantity_history ADD CONSTRAINT fk_inventory_quantity_history_item
    FOREIGN KEY (inventory_item_id) REFERENCES inventory_items(id) ON DELETE CASCADE;
ALTER TABLE inventory_state_history ADD CONSTRAINT fk_inventory_state_history_item
    FOREIGN KEY (inventory_item_id) REFERENCES inventory_items(id) ON DELETE CASCADE;

-- Appendix B: a purchase record must survive the deletion of the item it bought. Finance keeps the transaction,
-- and item_id becomes NULL.
ALTER TABLE transactions ADD CONSTRAINT fk_transactions_item
    FOREIGN KEY (item_id) REFERENCES inventory_items(id) ON DELETE SET NULL;

-- A relation row is owned by the transaction it describes (seed: CASCADE). Transactions are not deleted in normal
-- operation. If one is purged, its outgoing links go with it.
ALTER TABLE transaction_relations ADD CONSTRAINT fk_transaction_relations_transaction
    FOREIGN KEY (transaction_id) REFERENCES transactions(id) ON DELETE CASCADE;

-- Seed: REFERENCES without ON DELETE, kept as NO ACTION. A transaction that another transaction refunds, splits or
-- pairs with cannot be deleted while that link exists: financial history must stay whole.
ALTER TABLE transaction_relations ADD CONSTRAINT fk_transaction_relations_related
    FOREIGN KEY (related_transaction_id) REFERENCES transactions(id) ON DELETE NO ACTION;
