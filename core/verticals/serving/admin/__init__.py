"""The admin API: customers, keys, books and analytics behind the admin token."""
