"""PyTorch reference layers and functions of the course (twins of seq2bert.tf)."""
