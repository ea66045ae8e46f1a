"""fullconv.training"""
