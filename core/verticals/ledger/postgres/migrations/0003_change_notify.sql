-- Version 3: every change to the control tables is announced on the channel verticals_changes, whoever
-- makes it (a replica, the CLI, the admin API, psql), so each replica's caches follow within a second
-- (ledger/postgres/listener.py listens). The payload is '<table>:<customer>' ('<table>:' when the row
-- belongs to no customer). NOTIFY is sent at commit, never for a rolled-back change, and PostgreSQL folds
-- identical payloads of one transaction into one.
CREATE FUNCTION verticals_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    customer text := coalesce(
        changed ->> 'customer',
        CASE WHEN TG_TABLE_NAME = 'customers' THEN changed ->> 'name' END,
        ''
    );
BEGIN
    PERFORM pg_notify('verticals_changes', TG_TABLE_NAME || ':' || left(customer, 200));
    RETURN NULL;
END
$$;

CREATE TRIGGER plans_changed AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER customers_changed AFTER INSERT OR UPDATE OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER price_book_changed AFTER INSERT OR UPDATE OR DELETE ON price_book
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER price_tiers_changed AFTER INSERT OR UPDATE OR DELETE ON price_tiers
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER cost_book_changed AFTER INSERT OR UPDATE OR DELETE ON cost_book
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER allowances_changed AFTER INSERT OR UPDATE OR DELETE ON allowances
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER subscriptions_changed AFTER INSERT OR UPDATE OR DELETE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER credit_grants_changed AFTER INSERT OR UPDATE OR DELETE ON credit_grants
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
CREATE TRIGGER invoices_changed AFTER INSERT OR UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION verticals_notify_change();
