"""The dashboard's pages, one module per area of the product (each with its
templates in ``templates/<area>/``). Pages are thin: read through the
services, present with the views the API uses, never a second copy of a rule."""
