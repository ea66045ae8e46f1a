"""fullconv.report"""
