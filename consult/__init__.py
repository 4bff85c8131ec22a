"""Remote consultations: requests, routing, deadlines, sessions and signed opinions."""
