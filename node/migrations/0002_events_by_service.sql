-- Most indicators count a few services in one period: find their events by service first.
CREATE INDEX events_service_date ON events (service, date, client_code, outcome);
