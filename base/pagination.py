from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    """Keyset ("cursor") pagination on the primary key: page 10,000 costs what page 1 costs,
    because the database seeks to `id < cursor` on an index instead of counting OFFSET rows."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
