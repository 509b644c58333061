"""Provider routing: which provider account and sender carries a message (by
destination, cost, health), and failing over between them."""
